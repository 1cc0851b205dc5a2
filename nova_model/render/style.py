"""Colours and fonts, one table per property, keyed by :class:`~nova_model.render.ir.Look`."""

from __future__ import annotations

from nova_model.render.ir import Look

FONT = "DejaVu Sans"

FILL: dict[Look, str] = {
    Look.PLAIN: "#ffffff",
    Look.STATE: "#e3ecfa",
    Look.START: "#37474f",
    Look.GUARD: "#fff6d5",
    Look.API: "#e3f2fd",
    Look.CONDUCTOR: "#ede7f6",
    Look.HOST: "#e8f5e9",
    Look.SOURCE: "#fff3e0",
    Look.DEST: "#e0f7fa",
    Look.SCHEDULER: "#fce4ec",
    Look.PLACEMENT: "#f1ece7",
    Look.OK: "#dcedc8",
    Look.ENV: "#ffe0b2",
    Look.FAULT: "#ffcdd2",
    Look.ERROR: "#ef9a9a",
    Look.MUTED: "#f7f7f7",
}

STROKE: dict[Look, str] = {
    Look.PLAIN: "#555555",
    Look.STATE: "#3f5f99",
    Look.START: "#37474f",
    Look.GUARD: "#b59a2e",
    Look.API: "#5c87b8",
    Look.CONDUCTOR: "#7e57c2",
    Look.HOST: "#5b9a5f",
    Look.SOURCE: "#d08a2e",
    Look.DEST: "#2e9aa8",
    Look.SCHEDULER: "#c2185b",
    Look.PLACEMENT: "#8d6e63",
    Look.OK: "#558b2f",
    Look.ENV: "#ef6c00",
    Look.FAULT: "#c62828",
    Look.ERROR: "#b71c1c",
    Look.MUTED: "#9e9e9e",
}

FONT_COLOUR: dict[Look, str] = {look: ("#ffffff" if look is Look.START else
                                       "#666666" if look is Look.MUTED else "#111111")
                                for look in Look}

EDGE_COLOUR: dict[Look, str] = {
    **STROKE,
    Look.PLAIN: "#444444",
    Look.OK: "#2e7d32",
}

assert set(FILL) == set(STROKE) == set(Look)
