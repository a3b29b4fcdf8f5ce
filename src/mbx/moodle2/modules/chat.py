from mbx.moodle2.declare import COURSE, Element, Module, view_rules

MODULE = Module(
    "chat",
    (Element(".", "chat", kind="chat", fixed={"course": COURSE}, files=("intro",), dates=("chattime",)),
     # Two leaves are renamed in the backup: ``message`` would repeat the element's own name.
     Element("messages/message", "chat_messages", kind="chat_message", userdata=True,
             parents={"chatid": "chat"}, refs={"userid": "user", "groupid": "group"},
             rename={"message": "message_text", "issystem": "system"})),
    links={"chat": ("intro",), "chat_messages": ("message",)},
    rules=view_rules("chat"))
