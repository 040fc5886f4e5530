typedef int placeholder_x;
