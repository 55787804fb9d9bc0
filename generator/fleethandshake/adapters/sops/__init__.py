"""SOPS: decryption (the `sops` binary, and in-process for age), encryption for sops mode."""
