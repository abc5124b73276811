from emk_common.service import serve
from notifications.settings import NotificationsSettings

serve("notifications.main:app", NotificationsSettings())
