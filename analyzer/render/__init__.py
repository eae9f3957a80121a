"""Renderers: a report in, text for a person or a document for a machine out."""
