"""The framework adapters, registered explicitly by name."""

from compare.adapters.base import Adapter
from compare.adapters.django import DjangoAdapter
from compare.adapters.fastapi import FastAPIAdapter
from compare.adapters.flask import FlaskAdapter

ADAPTERS: dict[str, Adapter] = {a.name: a for a in (DjangoAdapter(), FlaskAdapter(), FastAPIAdapter())}

__all__ = ["ADAPTERS", "Adapter"]
