"""The delivery core: who is connected here (users), where each event goes (router), each
socket's ordered stream (client, cursor), and how what Realtime lost comes back from the
database (recovery for one socket, the position check for every chat). It knows Supabase
only through small typed interfaces (`typing.Protocol`), wired once in `gateway.app`."""
