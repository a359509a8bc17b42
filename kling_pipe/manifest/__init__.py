"""Manifests: YAML files in git that declare a campaign's shots, markets, matrix and cuts."""
