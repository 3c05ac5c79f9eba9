import random

_ADJECTIVES = ("amber", "bold", "brisk", "calm", "clever", "crisp", "eager", "gentle", "keen",
               "lucid", "merry", "nimble", "quiet", "rapid", "sharp", "steady", "swift", "vivid")
_NOUNS = ("badger", "crane", "falcon", "finch", "fox", "heron", "lynx", "marten", "otter", "owl",
          "panda", "puffin", "raven", "seal", "stoat", "swan", "tern", "wren")


def random_run_name() -> str:
    return f"{random.choice(_ADJECTIVES)}-{random.choice(_NOUNS)}-{random.randint(100, 999)}"
