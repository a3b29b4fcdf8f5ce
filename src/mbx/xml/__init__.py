"""Streaming XML: the record-dispatching parser and the Moodle-style writer."""

from mbx.xml._paths import SKIP, Limits, RegistrationError
from mbx.xml.parser import Parser
from mbx.xml.writer import XmlWriter

__all__ = ["SKIP", "Limits", "Parser", "RegistrationError", "XmlWriter"]
