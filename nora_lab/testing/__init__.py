"""Real services for tests, benchmarks and demos: started here, stopped by PID.

Nothing here is a fake: :class:`PostgresServer` runs Debian's PostgreSQL in a temporary
data directory; :mod:`~nora_lab.testing.pacs` runs Orthanc and dcmtk as DICOM peers.
A service that cannot start raises :class:`ServiceError` with the reason,
so a suite that needs it fails and says why. :mod:`~nora_lab.testing.testdata` finds and
fetches the suite's public test data, verified file by file.
"""

from nora_lab.testing.postgres import PostgresServer, ServiceError, free_port

__all__ = ["PostgresServer", "ServiceError", "free_port"]
