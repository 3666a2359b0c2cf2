"""YouTube's assignable video categories, as data: read by the adapter and by configuration,
which must not load the adapter itself to validate YOUTUBE_CATEGORY_ID."""

# Categories an upload may use (videoCategories.list, regionCode=US, assignable=true). Others
# are refused by YouTube with invalidCategoryId, so they are refused here before any upload.
CATEGORIES: dict[str, str] = {
    "1": "Film & Animation",
    "2": "Autos & Vehicles",
    "10": "Music",
    "15": "Pets & Animals",
    "17": "Sports",
    "19": "Travel & Events",
    "20": "Gaming",
    "22": "People & Blogs",
    "23": "Comedy",
    "24": "Entertainment",
    "25": "News & Politics",
    "26": "Howto & Style",
    "27": "Education",
    "28": "Science & Technology",
    "29": "Nonprofits & Activism",
}
