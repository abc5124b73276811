from applications.settings import ApplicationsSettings
from emk_common.service import serve

serve("applications.main:app", ApplicationsSettings())
