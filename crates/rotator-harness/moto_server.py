"""Starts moto's server with four adjustments for this project's tests.

1. This machine has no Docker engine. moto's `/moto-api/data.json` reads every attribute of
   every Lambda function it holds, and one of them (`docker_client`) connects to Docker. The
   tests register a placeholder function (RotateSecret needs one) and never run it, so that
   attribute answers None here.
2. With authentication on, moto checks the signature of a form-encoded request (SNS, IAM, STS)
   against the form re-encoded by Python, which writes a space as `+`; the AWS SDK for Rust
   (like AWS itself) encodes it as `%20`. moto re-encodes the way the SDK does here, so that
   a message with spaces is not refused as `SignatureDoesNotMatch`.
3. moto forgets a secret's rotation function when `RotateSecret` names none, and then labels the
   new, empty version AWSCURRENT at once; AWS keeps the configured function and labels the new
   version AWSPENDING. `rotator rotate` names none, as it need not: the configured one is kept.
4. moto answers `ListSecretVersionIds` with the time of the call as every version's
   `CreatedDate`; AWS gives each version's creation time, which the sweep reads to tell when
   AWSCURRENT moved. moto's own record of that time is reported here.
"""

import functools
import json
import sys
from urllib.parse import quote, urlencode

import botocore.awsrequest
from moto.secretsmanager.models import SecretsManagerBackend
from moto.utilities import docker_utilities

docker_utilities.DockerModel.docker_client = property(lambda self: None)
botocore.awsrequest.urlencode = functools.partial(urlencode, quote_via=quote)

_rotate_secret = SecretsManagerBackend.rotate_secret


def _rotate_with_the_configured_function(self, secret_id, **kwargs):
    if not kwargs.get("rotation_lambda_arn") and self._is_valid_identifier(secret_id):
        kwargs["rotation_lambda_arn"] = self.secrets[secret_id].rotation_lambda_arn or None
    return _rotate_secret(self, secret_id, **kwargs)


SecretsManagerBackend.rotate_secret = _rotate_with_the_configured_function

_list_secret_version_ids = SecretsManagerBackend.list_secret_version_ids


def _list_secret_version_ids_with_creation(self, secret_id):
    answer = json.loads(_list_secret_version_ids(self, secret_id))
    versions = self.secrets[secret_id].versions
    for version in answer.get("Versions", []):
        created = versions.get(version.get("VersionId"), {}).get("createdate")
        if created is not None:
            version["CreatedDate"] = created
    return json.dumps(answer)


SecretsManagerBackend.list_secret_version_ids = _list_secret_version_ids_with_creation

from moto.server import main  # noqa: E402

sys.exit(main())
