"""The ``/callback`` endpoints LINE posts webhook events to."""
