print("lucerna")
