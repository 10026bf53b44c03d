"""`python -m regwas.config [README]`: regenerate the key reference in config/README.md."""

import sys
from pathlib import Path

from regwas.config.reference import update_readme

target = Path(sys.argv[1] if len(sys.argv) > 1 else "config/README.md")
print(f"{target}: {'updated' if update_readme(target) else 'up to date'}")
