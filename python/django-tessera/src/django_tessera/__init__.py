"""Django companion for tessera, Django's sessions rebuilt in Rust.

A Django app and a tessera service that share one ``SECRET_KEY`` and one session store
must agree on how sessions are stored, and this package makes the Django side hold to it:

* ``django_tessera.backends.db`` -- the ``db`` session engine with a compare-and-swap save:
  a save that lost a race to another request (Django or tessera) re-reads the row and
  replays this request's changes on top, so concurrent writers of different keys all land.
* ``django_tessera.backends.cache`` -- the ``cache`` session engine storing the signed
  session text (what the ``db`` engine stores and tessera reads), not a pickled dict.
* ``django_tessera.backends.cached_db`` -- the ``cached_db`` session engine: that text
  cached in front of the compare-and-swap ``db`` engine, every cache fill checked against
  the row so that racing saves never leave an older text cached.
* ``django_tessera.serializers.TextSerializer`` -- a serializer for Django's ``RedisCache``
  that writes that text to Redis as raw UTF-8, so tessera's Redis store can read it.

The engines treat a record they cannot decode (bad signature, a pickle, a foreign format)
as no session: the request gets a new key and the record is never overwritten.
"""

__version__ = "0.1.0"
