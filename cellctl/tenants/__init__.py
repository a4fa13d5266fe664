"""Tenant placement and rebalancing: pure algorithms on plain data (`cellctl tenants`).

The engines here know cells only as limits (`model.Cell`) and tenants only as load and
constraints (`model.Tenant`); `cellctl.tenant_cmds` turns the registry into these and writes the
results back. Nothing here reads files.
"""
