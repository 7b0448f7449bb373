"""Protocol clients shared by receiving and delivering: SOAP (zeep), SFTP (paramiko).
They know endpoints and wire formats, nothing of mappings or the store."""
