"""The parts of :class:`~aftersales.storage.sqlalchemy.SQLAlchemyStore`, one module per
concern: tables and pre-built statements (:mod:`.tables`), the engine's transactions, error
translation and migration steps (:mod:`.connection`), ticket reads (:mod:`.tickets`),
customers, outbox and state (:mod:`.records`), and cases (:mod:`.cases`).
:mod:`aftersales.storage.sqlalchemy` puts them together with the ticket writes."""
