"""A Python function with a heavy init, the kind a snapshot pays off for: it imports a good part of the
standard library and builds sizeable data structures (an indexed word list, an in-memory SQLite table, a
parsed XML catalogue) before its first invocation. Like hello-python it counts its invocations since init.
"""

import argparse
import ast
import asyncio
import base64
import calendar
import collections
import concurrent.futures
import configparser
import csv
import dataclasses
import datetime
import decimal
import difflib
import email.message
import email.mime.multipart
import email.mime.text
import email.parser
import fractions
import gzip
import hashlib
import hmac
import html.parser
import http.client
import http.cookies
import http.server
import inspect
import io
import ipaddress
import json
import logging
import lzma
import pickle
import random
import smtplib
import sqlite3
import ssl
import statistics
import string
import tarfile
import textwrap
import time
import tokenize
import typing
import unittest
import urllib.parse
import urllib.request
import uuid
import xml.dom.minidom
import xml.etree.ElementTree as ElementTree
import xmlrpc.client
import zipfile

init_started = time.perf_counter()
initialized_at = time.time() * 1000
invocations = 0

# A word list and an index over it.
_rng = random.Random(1)
WORDS = [''.join(_rng.choice(string.ascii_lowercase) for _ in range(_rng.randint(3, 10))) for _ in range(60_000)]
BY_PREFIX = collections.defaultdict(list)
for _index, _word in enumerate(WORDS):
    BY_PREFIX[_word[:2]].append(_index)

# An in-memory table with an index.
DB = sqlite3.connect(':memory:', check_same_thread=False)
DB.execute('CREATE TABLE items (id INTEGER PRIMARY KEY, word TEXT, price TEXT)')
DB.executemany(
    'INSERT INTO items VALUES (?, ?, ?)',
    ((i, word, str(decimal.Decimal(i % 1000) / 100)) for i, word in enumerate(WORDS[:20_000])),
)
DB.execute('CREATE INDEX items_word ON items (word)')

# A parsed XML catalogue.
_catalogue = ElementTree.Element('catalogue')
for _i in range(5_000):
    ElementTree.SubElement(_catalogue, 'item', id=str(_i), word=WORDS[_i]).text = WORDS[_i + 1]
CATALOGUE = ElementTree.fromstring(ElementTree.tostring(_catalogue))
ITEM_TEXT = {item.get('id'): item.text for item in CATALOGUE.iter('item')}

# The things a real function builds once: a TLS context, compiled templates, a parsed config.
TLS = ssl.create_default_context()
TEMPLATE = string.Template('$word costs $price')
CONFIG = configparser.ConfigParser()
CONFIG.read_string('[service]\nname = heavy\nretries = 3\n')
logging.basicConfig(level=logging.WARNING)

init_ms = (time.perf_counter() - init_started) * 1000


@dataclasses.dataclass
class Lookup:
    prefix: str
    matches: int
    sample: typing.Optional[str]


def handler(event, context):
    global invocations
    invocations += 1
    name = (event or {}).get('name', 'world')
    prefix = (name[:2] or 'aa').lower()
    matches = BY_PREFIX.get(prefix, [])
    row = DB.execute('SELECT word, price FROM items WHERE id = ?', (invocations % 20_000,)).fetchone()
    lookup = Lookup(prefix, len(matches), WORDS[matches[0]] if matches else None)
    return {
        'message': f'Hello, {name}!',
        'runtime': 'python',
        'initializedAt': initialized_at,
        'initMs': round(init_ms, 1),
        'invocations': invocations,
        'lookup': dataclasses.asdict(lookup),
        'item': TEMPLATE.substitute(word=row[0], price=row[1]),
        'catalogueSize': len(ITEM_TEXT),
    }
