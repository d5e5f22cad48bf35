"""The edge to LINE: ``signature``, ``client``, ``limits``. Import the submodules; nothing heavy here."""
