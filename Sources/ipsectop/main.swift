print("ipsectop")
