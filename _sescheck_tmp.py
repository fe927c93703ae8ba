import os
os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_EC2_METADATA_DISABLED="true")
from tests.support.ses_server import *
from providers.ses import SesProvider, classify_aws_error
from bot.errors import MailroomError
srv, url = start_moto_server()
m = MotoSes(url); m.reset()
p = SesProvider("us-east-1", endpoint_url=url)
print(p.start_address_verification("Sales@Good.test"))
print(p.start_address_verification("sales@good.test"))
m.set_identity_status("sales@good.test","SUCCESS")
print(p.start_address_verification("sales@good.test").outcome)
print(p.create_domain_identity("good.test"))
m.set_identity_status("good.test","SUCCESS")
print(p.start_address_verification("other@good.test").outcome)
print(p.account_status())
e = AwsErrorServer().start()
for err in (ACCESS_DENIED, THROTTLED, SENDING_PAUSED, BAD_REQUEST, UNRECOGNIZED_CLIENT, SIGNATURE_MISMATCH, INTERNAL, ACCOUNT_SUSPENDED):
    e.respond_with(err)
    q = SesProvider("us-east-1", endpoint_url=e.url, max_attempts=1)
    try: q.get_identity("a@b.test")
    except MailroomError as x: print(type(x).__name__, x.field, x.message[:140], len(e.requests))
try: SesProvider("not a region!")
except MailroomError as x: print("region", type(x).__name__, x)
q = SesProvider("us-east-1", endpoint_url=closed_port_url(), max_attempts=1)
try: q.get_identity("a@b.test")
except MailroomError as x: print("closed", type(x).__name__, x)
try: SesProvider("us-east-1", endpoint_url=url).start_address_verification("bad@@x")
except MailroomError as x: print("addr", type(x).__name__, x.field, x)
