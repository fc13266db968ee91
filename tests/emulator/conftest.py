"""In-process tests (mock_aws) see moto with the same corrections the server applies."""

import moto_fixes

moto_fixes.apply()
