from emk_common.service import serve
from identity.settings import IdentitySettings

serve("identity.main:app", IdentitySettings())
