"""`asasql init`: write a template domain folder to fill in."""

import sys
from pathlib import Path

from asasql_resources.domain.template import TemplateError, write_template

EXIT_REFUSED = 1


def init(directory: Path, force: bool) -> int:
    """Write the template domain into `directory`; 1 with a message when it is refused or fails."""
    try:
        written = write_template(directory, force=force)
    except (TemplateError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_REFUSED
    for path in written:
        print(f"wrote {path}")
    print(
        f"next: replace the example rows (the workbook's readme sheet and its header comments explain each "
        f"field; docs/domain.md has the whole format), then: asasql validate {directory}"
    )
    return 0
