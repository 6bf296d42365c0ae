"""Extensions, created unbound and initialised in create_app()."""
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from flask_bootstrap import Bootstrap5
from flask_caching import Cache
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_sqlalchemy.session import Session as FlaskSession
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData, Table
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    if TYPE_CHECKING:
        # SQLAlchemy declares a FromClause (a class may map a query): every model here maps a table
        __table__: ClassVar[Table]


class RoutingSession(FlaskSession):
    """`db.session`'s class. `router`, when installed (app/core/replica.py), may send a statement to the read
    replica: it is asked first and answers an engine, or None for Flask-SQLAlchemy's own choice (the primary)."""

    router: ClassVar[Callable[["RoutingSession", Any], Engine | None] | None] = None

    def get_bind(self, mapper: Any | None = None, clause: Any | None = None,
                 bind: Engine | Connection | None = None, **kwargs: Any) -> Engine | Connection:
        router = RoutingSession.router
        if bind is None and router is not None:
            chosen = router(self, clause)
            if chosen is not None:
                return chosen
        return super().get_bind(mapper=mapper, clause=clause, bind=bind, **kwargs)


db = SQLAlchemy(model_class=Base, session_options={"class_": RoutingSession})
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address)
cache = Cache()
bootstrap = Bootstrap5()

# The class models subclass. Flask-SQLAlchemy builds `db.Model` at run time out of Base's body (the same
# metadata, plus its own mixins), so to a type checker it is an attribute of `db`, not a class a model can be
# checked against: it is told Base instead.
if TYPE_CHECKING:
    Model = Base
else:
    Model = db.Model
