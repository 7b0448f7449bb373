"""Protocol clients shared by receiving and delivering: SOAP (lxml, over HTTP), SFTP (paramiko).
They know endpoints and wire formats, nothing of mappings or the store."""
