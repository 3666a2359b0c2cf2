"""The platform adapters, by the platform name the app stores (created_content.platform).

An explicit dict: adding a platform is one import and one line here, and a newcomer can see at
a glance what the scheduler supports. Imported on first use (services.content_publisher), so a
run with nothing due does not load six adapters.
"""

from services.platforms.base import Adapter
from services.platforms.facebook import FacebookAdapter
from services.platforms.instagram import InstagramAdapter
from services.platforms.linkedin import LinkedInAdapter
from services.platforms.wordpress import WordPressAdapter
from services.platforms.x import XAdapter
from services.platforms.youtube import YouTubeAdapter

ADAPTERS: dict[str, Adapter] = {
    "facebook": FacebookAdapter(),
    "instagram": InstagramAdapter(),
    "linkedin": LinkedInAdapter(),
    "youtube": YouTubeAdapter(),
    "twitter": XAdapter(),
    "wordpress": WordPressAdapter(),
}
