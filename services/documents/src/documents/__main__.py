from documents.settings import DocumentsSettings
from emk_common.service import serve

serve("documents.main:app", DocumentsSettings())
