"""fleet-handshake: deliver SOPS-encrypted Secrets to the clusters FleetHandshakes target, via Fleet."""

__version__ = "0.1.0"
