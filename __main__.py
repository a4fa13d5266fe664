"""Pulumi entry point: one program per stack, picked by the stack's name."""

import stacks

stacks.build()
