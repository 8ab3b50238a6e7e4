"""minifb.layers: Module and Parameter, initialisers, and the layers built on them."""
from . import init
from .module import Module, ModuleList, Parameter, Sequential, functional_call
