from emk_common.service import serve
from records.settings import RecordsSettings

serve("records.main:app", RecordsSettings())
