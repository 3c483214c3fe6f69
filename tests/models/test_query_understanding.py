"""Query understanding on a small multi-category catalog: real fitting, real regexes, real classifier."""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import pytest

from models.query import (
    CategoryClassifier,
    ParsedQuery,
    QueryParser,
    QueryUnderstanding,
    SpellCorrector,
    SynonymSet,
)

_ROWS = [
    # sku, title, description, brand, category, color, size, material, target, price
    ("F1", "Nike Air Zoom Pegasus Running Shoes", "Responsive cushioning for daily road running.", "Nike", "Footwear > Running Shoes", "Red", "42", "Mesh", "men", 120.0),
    ("F2", "Nike Revolution Running Shoes", "Lightweight running shoe for beginners.", "Nike", "Footwear > Running Shoes", "Black", "40", "Mesh", "women", 65.0),
    ("F3", "Adidas Ultraboost Running Shoes", "Energy returning boost foam running shoes.", "Adidas", "Footwear > Running Shoes", "White", "44", "Knit", "men", 180.0),
    ("F4", "Adidas Duramo Kids Running Shoes", "Durable running sneakers for children.", "Adidas", "Footwear > Running Shoes", "Blue", "32", "Mesh", "kids", 45.0),
    ("F5", "Puma Leather Chelsea Boots", "Classic leather boots with elastic sides.", "Puma", "Footwear > Boots", "Brown", "43", "Leather", "men", 140.0),
    ("F6", "Timberland Waterproof Hiking Boots", "Waterproof boots for hiking trails.", "Timberland", "Footwear > Boots", "Brown", "41", "Leather", "women", 160.0),
    ("F7", "Havaianas Flip Flops", "Rubber sandals for the beach.", "Havaianas", "Footwear > Sandals", "Yellow", "38", "Rubber", "unisex", 25.0),
    ("F8", "Birkenstock Arizona Sandals", "Cork footbed sandals with two straps.", "Birkenstock", "Footwear > Sandals", "Black", "39", "Leather", "women", 99.0),
    ("E1", "Samsung Galaxy S24 Smartphone 128GB", "Android phone with a bright AMOLED display and great camera.", "Samsung", "Electronics > Phones", "Black", "128GB", "Glass", "unisex", 799.0),
    ("E2", "Apple iPhone 15 Smartphone", "Smartphone with A16 chip and dual camera.", "Apple", "Electronics > Phones", "Blue", "128GB", "Aluminium", "unisex", 899.0),
    ("E3", "Samsung 55 inch 4K Smart Television", "Crystal UHD smart TV with HDR.", "Samsung", "Electronics > Televisions", "Black", "55 inch", "Plastic", "unisex", 549.0),
    ("E4", "LG 65 inch OLED Television", "OLED TV with perfect blacks for movies.", "LG", "Electronics > Televisions", "Black", "65 inch", "Plastic", "unisex", 1499.0),
    ("E5", "Sony Wireless Noise Cancelling Headphones", "Over-ear headphones with noise cancelling and long battery.", "Sony", "Electronics > Headphones", "Black", "One Size", "Plastic", "unisex", 299.0),
    ("E6", "JBL Bluetooth Earbuds", "Wireless earbuds with charging case for music on the go.", "JBL", "Electronics > Headphones", "White", "One Size", "Plastic", "unisex", 79.0),
    ("E7", "Samsung Galaxy Watch Smartwatch", "Fitness tracking smartwatch with heart rate monitor.", "Samsung", "Electronics > Wearables", "Silver", "44mm", "Aluminium", "unisex", 299.0),
    ("H1", "Stanley Insulated Tumbler 40oz", "Vacuum insulated tumbler keeps coffee hot for hours and drinks cold.", "Stanley", "Home & Kitchen > Drinkware", "Green", "40oz", "Stainless Steel", "unisex", 45.0),
    ("H2", "Thermos Stainless Steel Vacuum Flask", "Keeps coffee and tea hot for 24 hours; leak-proof travel flask.", "Thermos", "Home & Kitchen > Drinkware", "Silver", "1L", "Stainless Steel", "unisex", 35.0),
    ("H3", "Ceramic Coffee Mug Set", "Set of four ceramic mugs for coffee and tea.", "Tramontina", "Home & Kitchen > Drinkware", "White", "350ml", "Ceramic", "unisex", 22.0),
    ("H4", "Tramontina Non-Stick Frying Pan", "Non-stick frying pan for eggs and pancakes.", "Tramontina", "Home & Kitchen > Cookware", "Red", "24cm", "Aluminium", "unisex", 39.0),
    ("H5", "Le Creuset Cast Iron Dutch Oven", "Cast iron pot for slow cooking stews and baking bread.", "Le Creuset", "Home & Kitchen > Cookware", "Orange", "26cm", "Cast Iron", "unisex", 350.0),
    ("H6", "Philips Espresso Coffee Machine", "Automatic espresso machine that grinds beans and brews coffee.", "Philips", "Home & Kitchen > Appliances", "Black", "One Size", "Plastic", "unisex", 499.0),
    ("H7", "Oster Blender 600W", "Powerful blender for smoothies and soups.", "Oster", "Home & Kitchen > Appliances", "Black", "One Size", "Glass", "unisex", 59.0),
    ("A1", "Nike Dri-FIT Running T-Shirt", "Breathable sweat-wicking shirt for training.", "Nike", "Apparel > T-Shirts", "Red", "M", "Polyester", "men", 30.0),
    ("A2", "Adidas Essentials Cotton T-Shirt", "Soft cotton tee with logo.", "Adidas", "Apparel > T-Shirts", "White", "S", "Cotton", "women", 25.0),
    ("A3", "Levi's 501 Original Jeans", "Straight fit denim jeans.", "Levi's", "Apparel > Jeans", "Blue", "L", "Denim", "men", 89.0),
    ("A4", "Levi's Skinny Jeans", "Skinny fit stretch denim jeans.", "Levi's", "Apparel > Jeans", "Black", "XS", "Denim", "women", 79.0),
    ("A5", "Under Armour Hooded Sweatshirt", "Warm fleece hoodie for cold days.", "Under Armour", "Apparel > Hoodies", "Grey", "XL", "Fleece", "men", 55.0),
    ("A6", "Zara Kids Hoodie", "Cosy hoodie for kids with a kangaroo pocket.", "Zara", "Apparel > Hoodies", "Pink", "XXL", "Cotton", "kids", 29.0),
    ("A7", "Black & Decker Cordless Drill", "Cordless drill driver with two batteries.", "Black & Decker", "Tools > Power Tools", "Orange", "One Size", "Plastic", "unisex", 89.0),
]
COLUMNS = ["sku", "title", "description", "brand", "category", "color", "size", "material", "target", "price"]


@pytest.fixture(scope="module")
def catalog() -> pd.DataFrame:
    return pd.DataFrame(_ROWS, columns=COLUMNS)


@pytest.fixture(scope="module")
def qu(catalog: pd.DataFrame) -> QueryUnderstanding:
    clicks = [("tv", "Electronics > Televisions"), ("celular", "Electronics > Phones"), ("tenis", "Footwear > Running Shoes")]
    synonyms = SynonymSet(two_way=[["tv", "television"]], one_way={"sneakers": ["running shoes"]})
    return QueryUnderstanding(category_threshold=0.3, synonyms=synonyms).fit(
        catalog, query_log=["nike shoes", "tv"] * 3, query_categories=clicks
    )


@pytest.fixture(scope="module")
def parser(qu: QueryUnderstanding) -> QueryParser:
    return qu.parser_
