"""Blueprints of the function app: thin handlers that parse input and call one service."""
