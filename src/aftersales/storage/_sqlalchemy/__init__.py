"""The parts of :class:`~aftersales.storage.recorder.SQLAlchemyRecorder`, on which
:class:`~aftersales.storage.sqlalchemy.SQLAlchemyStore` is :class:`RecordStore`: the tables
(:mod:`.tables`); the engine opened and the schema created, upgraded and dropped, with
error translation (:mod:`.connection`); transactions, locks and rendered statements
(:mod:`.recorder`); the rows of one transaction (:mod:`.transaction`)."""
