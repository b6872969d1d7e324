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
5. moto confirms every SNS subscription at once. AWS keeps an email subscription pending until
   its owner follows the link in the confirmation message, and lists it in
   `ListSubscriptionsByTopic` with the ARN `PendingConfirmation` (SNS API reference); nobody
   follows links here, so email and email-json subscriptions are listed that way, and others
   (sqs, https, ...) as confirmed. `rotator doctor` reads that listing.
6. moto's SES v2 `GetEmailIdentity` answers `VerifiedForSendingStatus: false` for every
   identity, beside `VerificationStatus: SUCCESS`, while it sends from any identity it has. AWS
   answers `true` for a verified identity; here an identity's `VerifiedForSendingStatus` follows
   its `VerificationStatus`, so an identity moto has counts as verified, and an unverified
   sender is one SES has no identity for.
7. moto has no SES v2 `GetAccount` (nor a route for `/v2/email/account`). Here it answers as
   AWS does for a new account: in the sandbox (`ProductionAccessEnabled: false`), where SES
   sends only to verified identities.
8. With authentication on, moto recomputes the signature of a REST request (Lambda, SES v2,
   EventBridge Scheduler) from the path as werkzeug decoded it, and encodes it once where
   SigV4 encodes the path as sent once more (for every service but S3); and for a request
   without a body it signs its headers as if they were the payload. Both made every such GET
   with a `:` in its path (`GetFunctionConfiguration` by ARN) or without a body
   (`GetEmailIdentity`, `GetAccount`, `ListSchedules`) fail as `SignatureDoesNotMatch`, where
   AWS accepts it. Here moto encodes the decoded path first (an `%XX` stays as it is) and signs
   an empty payload for a GET, HEAD or DELETE without a body, as the SDK does. (A form POST's
   fields, which moto also keeps apart from its body, are left as they are.)
"""

import functools
import json
import sys
from urllib.parse import quote, urlencode

import botocore.awsrequest
from moto.core.responses import ActionResult
from moto.iam.access_control import IAMRequest
from moto.secretsmanager.models import SecretsManagerBackend
from moto.sesv2 import urls as sesv2_urls
from moto.sesv2.responses import SESV2Response
from moto.sns.responses import SNSResponse
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

_PENDING_PROTOCOLS = ("email", "email-json")


def _list_subscriptions_by_topic_with_pending(self):
    topic_arn = self._get_param("TopicArn")
    next_token = self._get_param("NextToken")
    subscriptions, next_token = self.backend.list_subscriptions_by_topic(
        topic_arn, next_token=next_token
    )
    listed = [
        {
            "SubscriptionArn": "PendingConfirmation"
            if subscription.protocol in _PENDING_PROTOCOLS
            else subscription.arn,
            "Owner": subscription.owner,
            "Protocol": subscription.protocol,
            "Endpoint": subscription.endpoint,
            "TopicArn": subscription.topic.arn,
        }
        for subscription in subscriptions
    ]
    return ActionResult({"Subscriptions": listed, "NextToken": next_token})


SNSResponse.list_subscriptions_by_topic = _list_subscriptions_by_topic_with_pending

_get_email_identity = SESV2Response.get_email_identity


def _get_email_identity_verified_when_successful(self):
    answer = json.loads(_get_email_identity(self))
    answer["VerifiedForSendingStatus"] = answer.get("VerificationStatus") == "SUCCESS"
    return json.dumps(answer)


SESV2Response.get_email_identity = _get_email_identity_verified_when_successful


def _get_account_in_the_sandbox(self):
    return json.dumps(
        {
            "DedicatedIpAutoWarmupEnabled": False,
            "EnforcementStatus": "HEALTHY",
            "ProductionAccessEnabled": False,
            "SendingEnabled": True,
        }
    )


SESV2Response.get_account = _get_account_in_the_sandbox
sesv2_urls.url_paths["{0}/v2/email/account$"] = SESV2Response.dispatch

_create_aws_request = IAMRequest._create_aws_request


def _create_aws_request_from_an_encoded_path(self):
    path, separator, query = self._path.partition("?")
    self._path = quote(path, safe="/~%") + separator + query
    if not self._body and self._method in ("GET", "HEAD", "DELETE"):
        self._data = b""
    return _create_aws_request(self)


IAMRequest._create_aws_request = _create_aws_request_from_an_encoded_path

from moto.server import main  # noqa: E402

sys.exit(main())
