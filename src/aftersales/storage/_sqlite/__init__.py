"""The parts of :class:`~aftersales.storage.sqlite.SQLiteStore`, one module per concern:
statements and schema steps (:mod:`.statements`), the connection, its lock, transactions and
error translation (:mod:`.connection`), the recorder port on it, which opens and upgrades
the database (:mod:`.recorder`), and the case writes (:mod:`.cases`).
:mod:`aftersales.storage.sqlite` puts them together with the ticket writes and imports."""
