# Every module has POD, and it is well formed.
use Test2::V0;
use File::Find;
use Pod::Checker;

my @modules;
find( sub { push @modules, $File::Find::name if /\.pm\z/ }, 'lib' );
for my $file ( sort @modules ) {
    my $checker = Pod::Checker->new( -warnings => 1 );
    open my $null, '>', \my $report;
    $checker->parse_from_file( $file, $null );
    is( $checker->num_errors, 0, "$file: no POD errors" ) or diag $report;
    ok( length( $checker->name // q{} ), "$file: has a NAME section" );
}
done_testing;
