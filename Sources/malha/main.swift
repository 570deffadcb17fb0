print("malha")
