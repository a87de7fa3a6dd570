"""The service layer's reads for the web app: every query the API and the pages make, cut to what the
principal may see (``service.domain.access``) and, for her data, by ``service.domain.her_data``.

Each function takes the reader engine (``WebDeps.engine``) and opens its own connection, so the web
layer imports neither the repositories nor SQLAlchemy; a read that took several queries on one
connection still does. Unknown or out-of-scope objects raise ``service.errors.NotFound`` (one answer
for both: a guessed id tells nothing).

- ``orders``: orders, their scopes, versions, history, service, agencies, the victim's last fix;
- ``alerts``: alert lists (the API's, the board's, hers), alert scopes, notices, the need-to-know rights;
- ``timeline``: what an order's timeline is read from;
- ``accountability``: the rows the figures are counted from.
"""
