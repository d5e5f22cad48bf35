"""The live demo behind ``./stepline demo``."""
