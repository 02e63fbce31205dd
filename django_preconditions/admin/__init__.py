"""The Django admin, made safe for concurrent editors, and the admin for protection rules.

:class:`VersionedModelAdmin` (or :class:`VersionedModelAdminMixin` next to another admin base)
gives any :class:`~django_preconditions.models.VersionedModel` lost-update protection: the
change form, ``list_editable`` rows and both delete confirmations carry the version they were
rendered from (signed, so it cannot be forged or silently dropped), and the write is a single
compare-and-swap against it. A stale write changes nothing; the editor sees who changed what,
keeps their input, and can reload or apply it to the current version.

:class:`ProtectedEndpointAdmin` manages the admin rules enforced by
:class:`~django_preconditions.middleware.PreconditionMiddleware`.

The package: ``signing`` (the signed version and its snapshot), ``reports`` (conflict
reports), ``forms`` (the versioned form), ``options`` (``VersionedModelAdmin``) and
``endpoints`` (the ``ProtectedEndpoint`` admin and its form).
"""

from __future__ import annotations

# Also importable from the old module path (django_preconditions.admin was one module).
from .endpoints import (  # noqa: F401
    CommaSeparatedChoiceField,
    DatalistInput,
    ProtectedEndpointAdmin,
    ProtectedEndpointForm,
    WildcardSelect,
    rules_status,
    versioned_model_choices,
    view_key_options,
)
from .forms import VersionedFormMixin, VersionField, versioned_form  # noqa: F401
from .options import VersionedModelAdmin, VersionedModelAdminMixin, delete_selected
from .reports import ConflictReport, FieldDifference
from .signing import (  # noqa: F401
    CHANGE,
    DELETE,
    VERSION_FIELD_NAME,
    InvalidVersion,
    SignedVersion,
    read_version,
    sign_version,
)

__all__ = [
    "VERSION_FIELD_NAME",
    "CommaSeparatedChoiceField",
    "ConflictReport",
    "DatalistInput",
    "FieldDifference",
    "ProtectedEndpointAdmin",
    "ProtectedEndpointForm",
    "VersionedModelAdmin",
    "VersionedModelAdminMixin",
    "delete_selected",
    "read_version",
    "sign_version",
    "versioned_form",
]

from .. import reporting_admin  # noqa: F401  (registers the report-only report, issue 14)
