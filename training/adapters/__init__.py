"""Converters from public retail datasets to omnirank's formats."""
