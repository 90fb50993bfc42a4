"""No import circle anywhere in bertkit, module by module.

`lint-imports` (make lint) checks the layers against each other; this checks inside them too:
no module imports one that imports it back, however long the way round (grimp is
import-linter's import graph).
"""

from __future__ import annotations

import grimp


def test_no_module_of_bertkit_is_part_of_an_import_cycle():
    graph = grimp.build_graph("bertkit")
    circles = [
        (module, imported)
        for module in sorted(graph.modules)
        for imported in sorted(graph.find_modules_directly_imported_by(module))
        if graph.find_shortest_chain(importer=imported, imported=module)
    ]
    assert circles == []
