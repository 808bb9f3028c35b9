"""Runs shipped with dynlearn (`run=<name>`): pretrained models that need no training here."""
