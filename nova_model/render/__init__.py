"""Diagrams and the design-review document, generated from the model.

Nothing here is drawn by hand: every node, edge and table row comes from the
catalogue (``model/catalogue.py``), the lifecycle machine derived from it, one
single-instance exploration (``model/graph.py``), the scheduler configuration
and the transcription of Nova's documentation page (:mod:`.nova_docs`).

* :mod:`.ir` — the format-neutral diagram value; :mod:`.dot`, :mod:`.mermaid`
  and :mod:`.raster` — the one writer per format;
* :mod:`.derive` — :class:`ModelView`, the exploration and what is derived from it;
* :mod:`.vm_states`, :mod:`.operations`, :mod:`.task_graph`, :mod:`.scheduler`,
  :mod:`.allocations` — the diagrams; :mod:`.generate` — all of them, written;
* :mod:`.report`, :mod:`.doc`, :mod:`.compare` — the design-review document;
* :mod:`.sequence` — a scenario run (or a counterexample) as a Mermaid sequence diagram
  with host usage before and after; drawn from the run, not the catalogue.
"""

from nova_model.render.derive import ModelView
from nova_model.render.generate import build_all, write_diagrams

__all__ = ["ModelView", "build_all", "write_diagrams"]
