"""The parts of :class:`~aftersales.storage.sqlite.SQLiteStore`, one module per concern:
statements and schema steps (:mod:`.statements`), the connection, its lock, transactions and
error translation (:mod:`.connection`), ticket reads (:mod:`.tickets`), customers, outbox and
state (:mod:`.records`), and cases (:mod:`.cases`). :mod:`aftersales.storage.sqlite` puts
them together with the ticket writes and imports."""
