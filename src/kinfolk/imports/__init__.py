"""Imports and exports: parsers, column mapping, the resumable import engine, streamed exports."""
